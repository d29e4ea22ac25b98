"""What the producer and the workers share: schemas, settings, storage, video I/O, scorers."""
