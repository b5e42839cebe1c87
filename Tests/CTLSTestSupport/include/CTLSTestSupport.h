// A TLS client over memory BIOs and self-signed certificates, for unit tests
// of the server's TLS transport without sockets.
#pragma once
#include <stdbool.h>
#include <stddef.h>

/// Writes a self-signed P-256 certificate for `name` (SAN DNS entry and CN)
/// and its key, valid from now + `not_before` to now + `not_after` seconds.
/// RSA (2048 bits) when `rsa`. Returns 0, or -1.
int tlstest_make_certificate(const char *certificate_path, const char *key_path, const char *name,
                             long not_before, long not_after, bool rsa);

typedef struct tlstest_client tlstest_client;

/// A client. `alpn`: comma-separated protocols or NULL; `server_name`: SNI
/// or NULL; `version`: 0 (any), 12 or 13 (only TLS 1.2 / 1.3); `ciphers`:
/// TLS 1.2 list or NULL; `session`: a session from tlstest_client_take_session
/// to resume, or NULL.
tlstest_client *tlstest_client_new(const char *alpn, const char *server_name, int version,
                                   const char *ciphers, void *session);
void tlstest_client_free(tlstest_client *client);
/// Bytes from the server.
void tlstest_client_feed(tlstest_client *client, const void *bytes, size_t length);
/// Bytes for the server (up to `capacity`); returns the count.
size_t tlstest_client_drain(tlstest_client *client, void *buffer, size_t capacity);
/// Drives the handshake: 1 done, 0 wants more, -1 failed.
int tlstest_client_handshake(tlstest_client *client);
/// Encrypts application data (queued for drain). Returns 0 or -1.
int tlstest_client_write(tlstest_client *client, const void *bytes, size_t length);
/// Decrypted application data available (up to `capacity`); -1 on error,
/// -2 after the server's close_notify.
long tlstest_client_read(tlstest_client *client, void *buffer, size_t capacity);
/// Sends close_notify.
void tlstest_client_shutdown(tlstest_client *client);
/// The ALPN protocol the server chose ("" for none).
void tlstest_client_alpn(tlstest_client *client, char *buffer, size_t capacity);
/// The common name of the server's certificate.
void tlstest_client_peer_name(tlstest_client *client, char *buffer, size_t capacity);
/// "TLSv1.2" or "TLSv1.3".
const char *tlstest_client_version(tlstest_client *client);
/// The key type of the server's certificate: "EC" or "RSA".
const char *tlstest_client_peer_key_type(tlstest_client *client);
bool tlstest_client_resumed(tlstest_client *client);
/// The session to resume later (owned by the caller; free with
/// tlstest_session_free), or NULL.
void *tlstest_client_take_session(tlstest_client *client);
void tlstest_session_free(void *session);
/// The last error as text.
void tlstest_error(char *buffer, size_t capacity);
