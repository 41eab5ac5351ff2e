// Package secrets keeps Secrets Manager secrets encrypted at rest and resolves
// CloudFormation dynamic references to them.
//
// Encryption: every secret value (and anything else sealed with the key, such
// as stack records) is AES-256-GCM with a random 96-bit nonce per value and
// additional data that binds it to where it belongs (for a secret: its name
// and version id), so a ciphertext moved to another name fails to open. The
// 32-byte key comes from the server configuration (a key file, generated with
// mode 0600 on first run, or NIMBUS_SECRETS_KEY); it is never stored in
// JetStream. A key check value (a constant sealed with the key) is stored
// next to the secrets: Open fails with ErrWrongKey when the configured key
// cannot open it, so a wrong key is refused at start instead of producing
// garbage or new secrets that the old key cannot read.
//
// Storage: KV bucket `nimbus_secrets`; key `keycheck` = JSON keyCheck, key
// `s.<base64url(name)>` = JSON record (metadata in clear, values sealed). A
// record keeps the AWSCURRENT version and, after a PutSecretValue, the
// AWSPREVIOUS one. A deleted secret stays (DescribeSecret shows its
// DeletedDate, values cannot be read) until its recovery window ends; it is
// purged lazily, when it is next touched or listed.
//
// References: {{resolve:secretsmanager:SECRET[:SecretString[:JSONKEY[:STAGE[:VERSIONID]]]]}}
// anywhere in a string (several per string allowed); SECRET is a name or an
// ARN. Resolve replaces them with values. Plain values never leave this
// package except through Value (GetSecretValue) and Resolve; errors name
// secrets, never values.
package secrets
