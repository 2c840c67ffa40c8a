from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Batches"

    def ready(self) -> None:
        from batches import storage
        from common import keyring

        # The stored files' MACs (batches/storage.py) are made again by `rotate_keys`.
        keyring.register_rekeyer(
            "batches.StoredFile.mac",
            rekey=storage.rekey_files,
            older=storage.files_under_older_keys,
        )
