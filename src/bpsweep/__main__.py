from bpsweep.cli import main

raise SystemExit(main())
