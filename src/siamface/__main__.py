from siamface.cli.main import main

raise SystemExit(main())
