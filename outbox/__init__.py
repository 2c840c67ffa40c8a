"""The transactional outbox: background work written in the transaction of the change that
asks for it, enqueued on RQ after commit and swept again until done. Every app may use it;
it imports no app of the hub."""
