from deepstudy.cli import main

raise SystemExit(main())
