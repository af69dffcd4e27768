from __future__ import annotations

from tenants.access import Capability, access_for, agency_access_for
from tenants.models import Membership, Role
from tenants.services import token_create


def test_roles_grant_their_capabilities(world):
    expected = {
        "a_viewer": {Capability.VIEW},
        "a_analyst": {Capability.VIEW, Capability.EDIT},
        "a_approver": {Capability.VIEW, Capability.APPROVE},
        "a_admin": {Capability.VIEW, Capability.EDIT, Capability.APPROVE, Capability.MANAGE},
        "a_owner": set(Capability),
    }
    for key, caps in expected.items():
        access = access_for(user=world.users[key], tenant=world.a)
        assert access is not None and set(access.capabilities) == caps, key


def test_a_tenant_is_invisible_to_non_members(world):
    assert access_for(user=world.users["b_owner"], tenant=world.a) is None
    assert access_for(user=world.users["a_owner"], tenant=world.b) is None


def test_agency_staff_reach_every_client_of_their_agency_only(world):
    access = access_for(user=world.users["ag_admin"], tenant=world.a)
    assert access is not None and access.can(Capability.MANAGE) and not access.can(Capability.OWN)
    assert access_for(user=world.users["ag_admin"], tenant=world.b) is None


def test_removing_the_agency_link_takes_effect_at_once(world):
    world.agency.memberships.filter(user=world.users["ag_admin"]).delete()
    assert access_for(user=world.users["ag_admin"], tenant=world.a) is None
    assert agency_access_for(user=world.users["ag_admin"], agency_id=world.agency.pk) is None


def test_direct_and_agency_roles_add_up(world):
    Membership.objects.create(user=world.users["ag_viewer"], tenant=world.a, role=Role.APPROVER)
    access = access_for(user=world.users["ag_viewer"], tenant=world.a)
    assert access is not None
    assert access.capabilities == {Capability.VIEW, Capability.APPROVE}


def test_a_token_narrows_to_its_tenants_and_scope(world):
    token, _ = token_create(user=world.users["a_owner"], name="ro", scope="read", tenants=[world.a])
    access = access_for(user=world.users["a_owner"], tenant=world.a, token=token)
    assert access is not None and access.capabilities == {Capability.VIEW}


def test_an_inactive_user_reaches_nothing(world):
    user = world.users["a_admin"]
    user.is_active = False
    user.save()
    assert access_for(user=user, tenant=world.a) is None
