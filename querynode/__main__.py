from querynode.cli import main

main()
