from ninja import Router

from api.auth import TokenAuth
from api.schemas import Me
from labeling.roles import role_of

router = Router(tags=["me"])


@router.get("", response=Me, auth=TokenAuth(), summary="Who the token acts for")
def me(request):
    """The token's owner and role: a cheap way to check that a token works."""
    user = request.auth
    return {
        "username": user.username,
        "role": role_of(user),
        "is_superuser": user.is_superuser,
        "token_name": user.api_token.name,
        "token_prefix": user.api_token.prefix,
    }
