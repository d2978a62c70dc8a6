from chat_app.cli import main

raise SystemExit(main())
