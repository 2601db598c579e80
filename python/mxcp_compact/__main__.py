from mxcp_compact.launch import main

main()
