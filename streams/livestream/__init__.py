"""Live-stream commands: validation of requests into events and who may do what to a stream."""
