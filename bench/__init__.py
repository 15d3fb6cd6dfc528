"""`make bench`: Switchboard measured against its floors and its limits (not part of `make test`)."""
