"""Personal data (Art. 28 of the Guangdong regulation, PIPL): protected at rest and in logs.

- ``keyring``: the data keys (``GBAGW_DATA_KEYS``, or the embedded mode's key file); the first
  encrypts, every one decrypts, so a new key is deployed before old rows are re-encrypted;
- ``sealing``: AES-GCM envelopes that carry their key id and nonce (the store's column types
  in ``gateway.store.types`` use them);
- ``identity`` and ``lookup``: keyed hashes of ID numbers, the only way cases are found by one;
- ``masking``: the log filter that hides ID numbers, phone numbers and known names;
- ``personal``: which fields of an application are personal;
- ``retention`` and ``rotation``: the jobs (``gbagw cases purge-personal-data``,
  ``gbagw db rotate-keys``).

This package's root imports nothing, so the store's column types can use it without a cycle.
"""
