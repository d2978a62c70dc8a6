"""The app's areas: each holds the handlers of one part of the screen and the
service calls behind it; ``ChatApp`` (chat_app/ui/app.py) inherits them all."""
