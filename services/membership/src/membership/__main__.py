from membership.app import main

main()
