from analytics.app import main

main()
