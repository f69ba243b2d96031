from edgetui.cli import main

raise SystemExit(main())
