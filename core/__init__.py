"""Code shared by every dyno: configuration, connections, and the Heroku Connect contract."""
