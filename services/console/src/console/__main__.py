from console.app import main

main()
