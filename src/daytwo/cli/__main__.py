from daytwo.cli.main import main

main()
