"""No one alone, through any door: the attacks a tester found, each from the attacker's side.

Every decision that moves money passes accounts/identity/gate.py: roles are grants to
persons, separation of duties compares persons through every channel, the cool-off follows
the person, every decision is signed, and thresholds count exposure, not actions.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit, gate, roles
from accounts.identity.audit import Actor
from accounts.models import Decision, Person, User
from batches import services
from batches.models import Batch, BatchItem
from payments import actions, api_keys
from payments import services as payments
from payments.models import BackOfficeAction, Payment
from tests.factories import AccountFactory, MerchantFactory, UserFactory, fund
from tests.helpers import fresh_code, grant, make_operator, run_outbox, totp_device

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop():
    merchant = MerchantFactory(second_approval_above=10_000, second_approval_row_above=20_000)
    debtor = AccountFactory(merchant=merchant, currency="EUR", number="SHOP-EUR")
    fund(debtor, 10_000_000)  # 100,000.00 EUR
    return debtor


@pytest.fixture
def payee():
    return AccountFactory(currency="EUR", number="MULE-1")


def upload(debtor, maker: User | None, amount: str, *, api_key=None, name="f.csv") -> Batch:
    content = f"creditor_account,amount,currency,reference\nMULE-1,{amount},EUR,{name}\n"
    batch = services.batch_upload(
        merchant=debtor.merchant,
        upload=SimpleUploadedFile(name, content.encode()),
        debtor_account_number=debtor.number,
        actor=Actor.for_user(maker) if maker else Actor.system("api"),
        uploaded_by=maker,
        api_key=api_key,
    )
    return services.batch_validate(batch_id=batch.pk)


def approve(batch: Batch, user: User) -> Batch:
    return services.batch_approve(
        batch_id=batch.pk, approver=user, actor=Actor.for_user(user), otp_token=fresh_code(user)
    )


def completed_payment(amount: int) -> Payment:
    merchant = MerchantFactory()
    debtor = AccountFactory(merchant=merchant, currency="EUR")
    fund(debtor, amount)
    creditor = AccountFactory(currency="EUR")
    return payments.payment_authorize(
        merchant=merchant, debtor=debtor, creditor=creditor, amount=amount, currency="EUR"
    )


def refund(payment: Payment, clerk: User, amount: int) -> BackOfficeAction:
    return actions.backoffice_action_request(
        kind=BackOfficeAction.Kind.REFUND,
        payment_id=payment.pk,
        amount=amount,
        reason="customer asked",
        actor=Actor.for_user(clerk),
        otp_token=fresh_code(clerk),
    )


def test_1_a_refund_split_in_three_waits_for_a_second_person(settings):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 2000
    payment = completed_payment(300_000)  # 3,000.00 EUR
    clerk = make_operator(roles.ADMIN, username="clerk")

    first, second, third = (refund(payment, clerk, 100_000) for _ in range(3))

    assert first.status == second.status == BackOfficeAction.Status.DONE
    assert third.status == BackOfficeAction.Status.PENDING  # 3,000.00 together: above 2,000
    payment.refresh_from_db()
    assert payment.refunded_amount == 200_000


def test_1b_refunds_to_one_account_count_together_over_the_day(settings):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 2000
    clerk = make_operator(roles.ADMIN, username="clerk")
    merchant = MerchantFactory()
    debtor = AccountFactory(merchant=merchant, currency="EUR")
    fund(debtor, 1_000_000)
    paid = [
        payments.payment_authorize(
            merchant=merchant,
            debtor=debtor,
            creditor=AccountFactory(currency="EUR"),
            amount=150_000,
            currency="EUR",
        )
        for _ in range(2)
    ]
    assert refund(paid[0], clerk, 150_000).status == BackOfficeAction.Status.DONE
    # Another payment, but the same account gets it back: 3,000.00 today together.
    assert refund(paid[1], clerk, 150_000).status == BackOfficeAction.Status.PENDING


def test_2_an_admins_second_account_approves_nothing_of_the_admins(settings):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 1000
    payment = completed_payment(500_000)
    admin = make_operator(roles.ADMIN, username="root", is_staff=True, is_superuser=True)
    action = refund(payment, admin, 500_000)
    assert action.status == BackOfficeAction.Status.PENDING

    # A new superuser, its authenticator enrolled by the admin himself.
    with audit.acting_as(Actor.for_user(admin)):
        twin = UserFactory(username="root2", is_staff=True, is_superuser=True)
    totp_device(twin)
    with pytest.raises(gate.NotAllowed, match="only an approver"):
        actions.backoffice_action_approve(
            action_id=action.pk, actor=Actor.for_user(twin), otp_token=fresh_code(twin)
        )
    # Even granted the role, an account of the same person is the same person.
    User.objects.filter(pk=twin.pk).update(person=admin.person)
    twin.refresh_from_db()
    grant(twin, roles.APPROVER)
    with pytest.raises(gate.NotAllowed, match="you initiated this"):
        actions.backoffice_action_approve(
            action_id=action.pk, actor=Actor.for_user(twin), otp_token=fresh_code(twin)
        )
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.PENDING
    payment.refresh_from_db()
    assert payment.refunded_amount == 0


def test_2b_the_database_refuses_a_decision_by_its_initiator():
    person = Person.objects.create(name="insider")
    user = UserFactory(person=person)
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            kind="batch",
            subject_type="batches.Batch",
            subject_id="x",
            verdict="approve",
            person=person,
            user=user,
            initiator=person,
            otp_time_step=1,
        )


def test_3_the_cooloff_follows_the_person_to_the_back_office(settings):
    settings.BACKOFFICE_SECOND_APPROVAL_ABOVE = 1000
    payment = completed_payment(200_000)
    clerk = make_operator(roles.ADMIN, username="clerk")
    action = refund(payment, clerk, 200_000)
    checker = make_operator(roles.OPERATOR, roles.APPROVER, username="checker")
    admin = make_operator(roles.ADMIN, username="root", is_superuser=True, is_staff=True)
    with audit.acting_as(Actor.for_user(admin)):
        checker.set_password("a-new-password-2026")
        checker.save()
    # Re-enrolled since (the reset removed the old one): the cool-off still runs.
    TOTPDevice.objects.create(user=checker, name="authenticator", confirmed=True)

    with pytest.raises(gate.NotAllowed, match="changed recently"):
        actions.backoffice_action_approve(
            action_id=action.pk, actor=Actor.for_user(checker), otp_token=fresh_code(checker)
        )
    action.refresh_from_db()
    assert action.status == BackOfficeAction.Status.PENDING


def test_4_a_group_renamed_approver_makes_no_one_an_approver(shop, payee):
    maker = make_operator(roles.OPERATOR, username="maker")
    mule_friend = make_operator(roles.OPERATOR, username="friend")
    staff = Group.objects.create(name="helpdesk")
    staff.user_set.add(mule_friend)
    Group.objects.filter(name=roles.APPROVER).update(name="approver-old")
    staff.name = roles.APPROVER
    staff.save()
    assert mule_friend.groups.filter(name=roles.APPROVER).exists()

    batch = upload(shop, maker, "100.00")
    with pytest.raises(services.NotAllowed, match="only an approver"):
        approve(batch, mule_friend)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL


def test_5_maker_and_checker_through_the_api_are_the_same_person(shop, payee):
    checker = make_operator(roles.OPERATOR, roles.APPROVER, username="checker")
    _, key = api_keys.api_key_create(
        merchant=shop.merchant, name="mine", actor=Actor.for_user(checker)
    )
    api_key = shop.merchant.api_keys.get(prefix=key.split(".")[0])
    batch = upload(shop, None, "4000.00", api_key=api_key)  # uploaded through the API

    with pytest.raises(services.NotAllowed, match="you initiated this"):
        approve(batch, checker)
    other = make_operator(roles.OPERATOR, roles.APPROVER, username="other")
    assert approve(batch, other).status in (Batch.Status.APPROVED, Batch.Status.EXECUTING)


def test_6_split_files_count_together_on_their_day(shop, payee):
    maker = make_operator(roles.OPERATOR, username="maker")
    one = make_operator(roles.OPERATOR, roles.APPROVER, username="one")
    two = make_operator(roles.OPERATOR, roles.APPROVER, username="two")

    first = approve(upload(shop, maker, "9000.00", name="a.csv"), one)
    assert first.status != Batch.Status.AWAITING_APPROVAL  # 9,000.00: one approver enough
    second = approve(upload(shop, maker, "9000.00", name="b.csv"), one)
    # 18,000.00 from one debtor to one payee on one day: above 10,000.00, a second person.
    assert second.status == Batch.Status.AWAITING_APPROVAL
    assert approve(second, two).status != Batch.Status.AWAITING_APPROVAL


def test_6b_rows_to_one_payee_in_one_file_count_together(shop, payee):
    shop.merchant.second_approval_row_above = 5000
    shop.merchant.save()
    maker = make_operator(roles.OPERATOR, username="maker")
    one = make_operator(roles.OPERATOR, roles.APPROVER, username="one")
    content = "creditor_account,amount,currency,reference\n" + "".join(
        f"MULE-1,3000.00,EUR,part {n}\n" for n in range(3)
    )
    batch = services.batch_upload(
        merchant=shop.merchant,
        upload=SimpleUploadedFile("split.csv", content.encode()),
        debtor_account_number=shop.number,
        actor=Actor.for_user(maker),
        uploaded_by=maker,
    )
    batch = services.batch_validate(batch_id=batch.pk)
    # Each row 3,000.00 is under 5,000.00; the payee receives 9,000.00: two approvers.
    assert approve(batch, one).status == Batch.Status.AWAITING_APPROVAL


def test_7_a_row_changed_after_approval_is_never_paid(shop, payee, settings):
    settings.BATCH_SECOND_APPROVAL_ABOVE = 100_000
    maker = make_operator(roles.OPERATOR, username="maker")
    checker = make_operator(roles.OPERATOR, roles.APPROVER, username="checker")
    mule = AccountFactory(currency="EUR", number="MULE-2")
    batch = upload(shop, maker, "700.00")
    batch.execution_date = None
    # The database refuses to re-point a stored row...
    with pytest.raises(IntegrityError), transaction.atomic():
        BatchItem.objects.filter(batch=batch).update(creditor_account=mule)
    # ...and with that trigger dropped by someone who can, execution stops before paying.
    approve(batch, checker)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE batches_batchitem DISABLE TRIGGER batchitem_money_frozen")
        try:
            BatchItem.objects.filter(batch=batch).update(creditor_account=mule)
        finally:
            cursor.execute("ALTER TABLE batches_batchitem ENABLE TRIGGER batchitem_money_frozen")
    run_outbox()

    batch.refresh_from_db()
    assert batch.status == Batch.Status.FAILED
    assert "differ from what was approved" in batch.error_message
    mule.refresh_from_db()
    assert mule.balance == 0
    assert not Payment.objects.filter(batch_id=batch.pk).exists()
    shop.refresh_from_db()
    assert shop.held == 0  # the funds held at approval were given back


def test_a_batch_with_no_valid_row_never_goes_to_approval(shop):
    maker = make_operator(roles.OPERATOR, username="maker")
    content = b"creditor_account,amount,currency,reference\nNOBODY,10.00,EUR,x\nNOONE,5.00,EUR,y\n"
    batch = services.batch_upload(
        merchant=shop.merchant,
        upload=SimpleUploadedFile("bad.csv", content),
        debtor_account_number=shop.number,
        actor=Actor.for_user(maker),
        uploaded_by=maker,
    )
    batch = services.batch_validate(batch_id=batch.pk)
    assert batch.status == Batch.Status.INVALID
    assert batch.error_code == "AC01" and batch.invalid_count == 2
    assert BatchItem.objects.filter(batch=batch, error_code="AC01").count() == 2


def test_role_grants_need_a_second_person_who_holds_the_admin_role():
    from accounts.identity import grants

    asker = make_operator(roles.ADMIN, username="asker")
    target = make_operator(roles.OPERATOR, username="target")
    pending = grants.role_grant_request(
        user=target, role=roles.APPROVER, actor=Actor.for_user(asker)
    )
    assert not roles.has_role(target, roles.APPROVER)
    with pytest.raises(gate.NotAllowed, match="you initiated this"):
        grants.role_grant_approve(
            grant_id=pending.pk, actor=Actor.for_user(asker), otp_token=fresh_code(asker)
        )
    with pytest.raises(gate.NotAllowed, match="only an admin"):
        grants.role_grant_approve(
            grant_id=pending.pk, actor=Actor.for_user(target), otp_token=fresh_code(target)
        )
    security = make_operator(roles.ADMIN, username="security")
    grants.role_grant_approve(
        grant_id=pending.pk, actor=Actor.for_user(security), otp_token=fresh_code(security)
    )
    assert roles.has_role(target, roles.APPROVER)


def test_the_admin_asks_for_a_role_and_another_admin_approves_it_signed(client):
    from django.test import Client
    from django.urls import reverse

    from accounts.models import RoleGrant
    from tests.helpers import otp_login, signed

    asker = make_operator(roles.ADMIN, username="asker", is_staff=True, is_superuser=True)
    target = make_operator(roles.OPERATOR, username="target")
    otp_login(client, asker)
    client.post(
        reverse("admin:accounts_rolegrant_ask"),
        {"user": target.pk, "role": roles.APPROVER, "reason": "new checker"},
    )
    pending = RoleGrant.objects.get(person=target.person, role=roles.APPROVER)
    decide = reverse("admin:accounts_rolegrant_decide", args=[pending.pk])
    client.post(decide, signed(asker))  # the asker: refused
    assert not roles.has_role(target, roles.APPROVER)

    other = Client()
    security = make_operator(roles.ADMIN, username="security", is_staff=True, is_superuser=True)
    otp_login(other, security)
    other.post(decide, signed(security))
    assert roles.has_role(target, roles.APPROVER)


def test_an_api_key_made_by_a_person_works_only_once_another_admin_approves_it(shop):
    from rest_framework.test import APIClient

    insider = make_operator(roles.ADMIN, username="insider", is_staff=True, is_superuser=True)
    api_key, key = api_keys.api_key_create(
        merchant=shop.merchant, name="mine", actor=Actor.for_user(insider)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/accounts/").status_code == 401  # not approved: no door yet

    with pytest.raises(gate.NotAllowed, match="you initiated this"):
        api_keys.api_key_approve(
            prefix=api_key.prefix, actor=Actor.for_user(insider), otp_token=fresh_code(insider)
        )
    assert client.get("/api/v1/accounts/").status_code == 401
    other = make_operator(roles.ADMIN, username="other-admin")
    api_keys.api_key_approve(
        prefix=api_key.prefix, actor=Actor.for_user(other), otp_token=fresh_code(other)
    )
    assert client.get("/api/v1/accounts/").status_code == 200
