/**
 * How this build signs users in. In local mode the devhost offers a development
 * sign-in (demo users); in the cloud an OIDC issuer (Entra ID or any OIDC provider)
 * signs users in with the authorization code flow and PKCE.
 *
 * Build-time settings (Vite env, see .env.example):
 *   VITE_OIDC_ISSUER     https://login.microsoftonline.com/<tenant>/v2.0
 *   VITE_OIDC_CLIENT_ID  the SPA app registration's client id
 *   VITE_OIDC_SCOPE      scopes to ask for (default "openid profile")
 *   VITE_OIDC_REDIRECT   redirect URI (default <origin>/auth/callback)
 */
export interface OidcConfig {
  issuer: string;
  clientId: string;
  scope: string;
  redirectUri: string;
}

export function oidcConfig(env: Record<string, string | undefined> = import.meta.env, origin = window.location.origin): OidcConfig | null {
  const issuer = env.VITE_OIDC_ISSUER?.trim();
  const clientId = env.VITE_OIDC_CLIENT_ID?.trim();
  if (!issuer || !clientId) return null;
  return {
    issuer: issuer.replace(/\/+$/, ''),
    clientId,
    scope: env.VITE_OIDC_SCOPE?.trim() || 'openid profile',
    redirectUri: env.VITE_OIDC_REDIRECT?.trim() || `${origin}/auth/callback`,
  };
}
