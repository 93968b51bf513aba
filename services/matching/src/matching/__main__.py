from matching.app import main

main()
