"""Who a bearer token is (hotline.accounts.Accounts.resolve), on a real database: the sign-in and its user are
read in one query, and every refusal keeps its own reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.accounts import Accounts
from hotline.errors import AuthError
from kb.db import make_engine, migrate, session_factory


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    migrate(url)
    a = Accounts(session_factory(make_engine(url)))
    a.add_user("op-li", "operator", "a-long-password-1")
    return a


def test_a_valid_token_is_its_user(accounts: Accounts) -> None:
    token, _, _ = accounts.sign_in("op-li", "a-long-password-1")
    who = accounts.resolve(token)
    assert (who.name, who.role) == ("op-li", "operator")


def test_signed_out_disabled_expired_and_unknown_tokens_are_refused_with_their_reason(accounts: Accounts,
                                                                                      tmp_path: Path) -> None:
    out, _, _ = accounts.sign_in("op-li", "a-long-password-1")
    accounts.sign_out(out)
    with pytest.raises(AuthError, match="revoked"):
        accounts.resolve(out)
    with pytest.raises(AuthError, match="unknown"):
        accounts.resolve("not-a-token")
    disabled, _, _ = accounts.sign_in("op-li", "a-long-password-1")
    accounts.set_active("op-li", False)
    with pytest.raises(AuthError, match="revoked|disabled"):  # disabling also revokes the account's sign-ins
        accounts.resolve(disabled)
    accounts.set_active("op-li", True)
    expired = Accounts(accounts.factory, token_hours=-1.0)  # tokens that expired an hour before they were made
    token, _, _ = expired.sign_in("op-li", "a-long-password-1")
    with pytest.raises(AuthError, match="expired"):
        accounts.resolve(token)
