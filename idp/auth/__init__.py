"""Login orchestration and the AuthMethod contract plugins implement."""

from idp.auth.method import AuthMethod, AuthResult, LoginContext, Role, render_part

__all__ = ["AuthMethod", "AuthResult", "LoginContext", "Role", "render_part"]
