"""Every kind of event the audit trail records, named once.

`audit.record(action=AuditAction.BATCH_APPROVE, ...)`: a new kind of event is added here,
never typed as a free string at the call, so the back office can list and filter them all
and a typo is an error, not a new kind.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    ACCOUNT_CLOSE = "account.close"
    ACCOUNT_FREEZE = "account.freeze"
    ACCOUNT_FUND = "account.fund"
    ACCOUNT_OPEN = "account.open"
    ACCOUNT_RENAME = "account.rename"
    ACCOUNT_STATEMENT = "account.statement"
    ACCOUNT_UNFREEZE = "account.unfreeze"
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    AUTH_LOCKED_OUT = "auth.locked_out"
    AUTH_LOGIN = "auth.login"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_LOGOUT = "auth.logout"
    AUTH_OTP_ENROLLED = "auth.otp_enrolled"
    AUTH_OTP_FAILED = "auth.otp_failed"
    AUTH_PASSWORD_ACCEPTED = "auth.password_accepted"
    BACKOFFICE_ACTION_APPROVE = "backoffice_action.approve"
    BACKOFFICE_ACTION_FAIL = "backoffice_action.fail"
    BACKOFFICE_ACTION_REJECT = "backoffice_action.reject"
    BACKOFFICE_ACTION_REQUEST = "backoffice_action.request"
    BATCH_APPROVE = "batch.approve"
    BATCH_APPROVE_REFUSED = "batch.approve_refused"
    BATCH_CANCEL = "batch.cancel"
    BATCH_COMPLETED = "batch.completed"
    BATCH_COMPLETED_WITH_ERRORS = "batch.completed_with_errors"
    BATCH_DECISION_CODE_REFUSED = "batch.decision_code_refused"
    BATCH_FAILED = "batch.failed"
    BATCH_REJECT = "batch.reject"
    BATCH_REPORT = "batch.report"
    BATCH_UPLOAD = "batch.upload"
    GROUP_PERMISSIONS = "group.permissions"
    MERCHANT_CHANGE = "merchant.change"
    MERCHANT_CREATE = "merchant.create"
    MERCHANT_ROTATE_WEBHOOK_SECRET = "merchant.rotate_webhook_secret"
    OPERATOR_CREATE = "operator.create"
    OTP_DEVICE_CREATE = "otp_device.create"
    OTP_DEVICE_DELETE = "otp_device.delete"
    PAYMENT_REFUND = "payment.refund"
    PAYMENT_REVERSE = "payment.reverse"
    PAYMENT_VOID = "payment.void"
    PAYMENTS_ADMIN_SEARCH = "payments.admin_search"
    PAYMENTS_EXPORT = "payments.export"
    PAYMENTS_SEARCH = "payments.search"
    USER_APPROVAL_BARRED = "user.approval_barred"
    USER_CHANGE = "user.change"
    USER_CREATE = "user.create"
    USER_GROUPS = "user.groups"
    USER_PASSWORD_CHANGE = "user.password_change"
    USER_PASSWORD_RESET = "user.password_reset"
    USER_PERMISSIONS = "user.permissions"
    WEBHOOK_DELIVERY_RETRY = "webhook_delivery.retry"
