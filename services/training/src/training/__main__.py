from training.app import main

main()
