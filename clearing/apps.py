from django.apps import AppConfig


class ClearingConfig(AppConfig):
    name = "clearing"
    verbose_name = "Interbank clearing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # payments knows nothing of clearing: the API asks its hook, which this fills.
        from clearing import desk, outbound, recalls, returns
        from payments import external

        external.register(
            external.Network(
                serves=outbound.peer_serving,
                send=outbound.api_send,
                deliver=outbound.api_deliver,
                recall=recalls.payment_recall,
            )
        )
        external.register_desk(
            external.Desk(
                check=desk.check,
                carry_out=desk.carry_out,
                return_reasons=returns.RETURN_REASONS,
                refusal_reasons=recalls.REFUSAL_REASONS,
            )
        )
