"""補正 (Art. 19) and 容缺 (Art. 12): requests for documents opened by an agency, answers
forwarded through the outbox, materials accepted as missing tracked against their due date."""
