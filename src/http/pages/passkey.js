// Passkeys in the browser (SPEC §16.1): the server speaks the WebAuthn Level 3 JSON encoding,
// which `PublicKeyCredential.parse*OptionsFromJSON` and `credential.toJSON()` read and write;
// for browsers without them the few binary fields are converted here (base64url).
"use strict";
const passkeys = (() => {
  const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const ids = (list) => (list || []).map((c) => ({ ...c, id: dec(c.id) }));
  const P = () => window.PublicKeyCredential;

  function creation(pk) {
    if (P().parseCreationOptionsFromJSON) return P().parseCreationOptionsFromJSON(pk);
    return { ...pk, challenge: dec(pk.challenge), user: { ...pk.user, id: dec(pk.user.id) }, excludeCredentials: ids(pk.excludeCredentials) };
  }

  function request(pk) {
    if (P().parseRequestOptionsFromJSON) return P().parseRequestOptionsFromJSON(pk);
    return { ...pk, challenge: dec(pk.challenge), allowCredentials: ids(pk.allowCredentials) };
  }

  function json(c) {
    if (c.toJSON) return c.toJSON();
    const r = c.response, out = {};
    for (const k of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
      if (r[k]) out[k] = enc(r[k]);
    }
    if (r.getTransports) out.transports = r.getTransports();
    return { id: c.id, rawId: enc(c.rawId), type: c.type, response: out,
      clientExtensionResults: c.getClientExtensionResults(), authenticatorAttachment: c.authenticatorAttachment };
  }

  return {
    supported: () => !!P() && !!navigator.credentials,
    create: async (pk) => json(await navigator.credentials.create({ publicKey: creation(pk) })),
    get: async (pk) => json(await navigator.credentials.get({ publicKey: request(pk) })),
  };
})();
