from feedback.app import main

main()
