from hyperopt_cli.cli import main

main()
