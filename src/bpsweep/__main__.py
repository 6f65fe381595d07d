from bpsweep.commands import main

raise SystemExit(main())
