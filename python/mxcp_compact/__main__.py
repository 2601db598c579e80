from mxcp_compact.cli import main

main()
