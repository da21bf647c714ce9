"""The change stream: the feed as Server-Sent Events, read by one shared tail per process."""
