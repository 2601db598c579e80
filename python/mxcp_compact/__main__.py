from mxcp_compact.launch import main

# Run as a program, never imported for names.
__all__: list[str] = []

main()
