from graphkit.cli.main import main

raise SystemExit(main())
