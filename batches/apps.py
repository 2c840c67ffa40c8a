from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Batches"

    def ready(self) -> None:
        from batches import storage
        from batches.services import network
        from clearing import settlement
        from common import keyring

        # clearing knows nothing of batches: a row sent to another bank hears its answer here.
        settlement.listen(network.row_settled)

        # The stored files' MACs (batches/storage.py) are made again by `rotate_keys`.
        keyring.register_rekeyer(
            "batches.StoredFile.mac",
            rekey=storage.rekey_files,
            older=storage.files_under_older_keys,
        )
