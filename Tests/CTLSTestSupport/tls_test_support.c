#include "CTLSTestSupport.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

int tlstest_make_certificate(const char *certificate_path, const char *key_path, const char *name,
                             long not_before, long not_after, bool rsa) {
    EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    if (!key) return -1;
    X509 *certificate = X509_new();
    X509_set_version(certificate, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), (long)(random() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(certificate), not_before);
    X509_gmtime_adj(X509_getm_notAfter(certificate), not_after);
    X509_set_pubkey(certificate, key);
    X509_NAME *subject = X509_get_subject_name(certificate);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(certificate, subject);
    char san[300];
    snprintf(san, sizeof(san), "DNS:%s", name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, certificate, certificate, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
    int result = -1;
    if (X509_sign(certificate, key, EVP_sha256()) > 0) {
        FILE *file = fopen(certificate_path, "w");
        FILE *key_file = fopen(key_path, "w");
        if (file && key_file && PEM_write_X509(file, certificate) &&
            PEM_write_PrivateKey(key_file, key, NULL, NULL, 0, NULL, NULL)) result = 0;
        if (file) fclose(file);
        if (key_file) fclose(key_file);
    }
    X509_free(certificate);
    EVP_PKEY_free(key);
    return result;
}

struct tlstest_client {
    SSL_CTX *context;
    SSL *ssl;
    BIO *from_server;  // we write what the server sent; SSL reads it
    BIO *to_server;    // SSL writes; we drain it
};

tlstest_client *tlstest_client_new(const char *alpn, const char *server_name, int version,
                                   const char *ciphers, void *session) {
    tlstest_client *client = calloc(1, sizeof(*client));
    client->context = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(client->context, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(client->context, SSL_SESS_CACHE_CLIENT);
    if (version == 12) {
        SSL_CTX_set_min_proto_version(client->context, TLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(client->context, TLS1_2_VERSION);
    } else if (version == 13) {
        SSL_CTX_set_min_proto_version(client->context, TLS1_3_VERSION);
    } else if (version == 11) {
        SSL_CTX_set_security_level(client->context, 0);
        SSL_CTX_set_min_proto_version(client->context, TLS1_1_VERSION);
        SSL_CTX_set_max_proto_version(client->context, TLS1_1_VERSION);
    }
    if (ciphers) SSL_CTX_set_cipher_list(client->context, ciphers);
    client->ssl = SSL_new(client->context);
    client->from_server = BIO_new(BIO_s_mem());
    client->to_server = BIO_new(BIO_s_mem());
    SSL_set_bio(client->ssl, client->from_server, client->to_server);
    SSL_set_connect_state(client->ssl);
    if (server_name) SSL_set_tlsext_host_name(client->ssl, server_name);
    if (session) SSL_set_session(client->ssl, (SSL_SESSION *)session);
    if (alpn) {
        unsigned char wire[256];
        size_t length = 0;
        const char *start = alpn;
        while (*start) {
            const char *end = strchr(start, ',');
            size_t item = end ? (size_t)(end - start) : strlen(start);
            wire[length++] = (unsigned char)item;
            memcpy(wire + length, start, item);
            length += item;
            start += item + (end ? 1 : 0);
        }
        SSL_set_alpn_protos(client->ssl, wire, (unsigned)length);
    }
    return client;
}

void tlstest_client_free(tlstest_client *client) {
    SSL_free(client->ssl);
    SSL_CTX_free(client->context);
    free(client);
}

void tlstest_client_feed(tlstest_client *client, const void *bytes, size_t length) {
    if (length) BIO_write(client->from_server, bytes, (int)length);
}

size_t tlstest_client_drain(tlstest_client *client, void *buffer, size_t capacity) {
    int read = BIO_read(client->to_server, buffer, (int)capacity);
    return read > 0 ? (size_t)read : 0;
}

int tlstest_client_handshake(tlstest_client *client) {
    int result = SSL_do_handshake(client->ssl);
    if (result == 1) return 1;
    int error = SSL_get_error(client->ssl, result);
    return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

int tlstest_client_write(tlstest_client *client, const void *bytes, size_t length) {
    size_t written = 0;
    return SSL_write_ex(client->ssl, bytes, length, &written) == 1 && written == length ? 0 : -1;
}

long tlstest_client_read(tlstest_client *client, void *buffer, size_t capacity) {
    size_t read = 0;
    if (SSL_read_ex(client->ssl, buffer, capacity, &read) == 1) return (long)read;
    int error = SSL_get_error(client->ssl, 0);
    if (error == SSL_ERROR_WANT_READ) return 0;
    if (error == SSL_ERROR_ZERO_RETURN) return -2;
    return -1;
}

void tlstest_client_shutdown(tlstest_client *client) { SSL_shutdown(client->ssl); }

void tlstest_client_alpn(tlstest_client *client, char *buffer, size_t capacity) {
    const unsigned char *protocol = NULL;
    unsigned length = 0;
    SSL_get0_alpn_selected(client->ssl, &protocol, &length);
    if (!protocol || length >= capacity) length = 0;
    if (length) memcpy(buffer, protocol, length);
    buffer[length] = 0;
}

void tlstest_client_peer_name(tlstest_client *client, char *buffer, size_t capacity) {
    buffer[0] = 0;
    X509 *peer = SSL_get1_peer_certificate(client->ssl);
    if (!peer) return;
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buffer, (int)capacity);
    X509_free(peer);
}

const char *tlstest_client_version(tlstest_client *client) { return SSL_get_version(client->ssl); }

const char *tlstest_client_peer_key_type(tlstest_client *client) {
    X509 *peer = SSL_get1_peer_certificate(client->ssl);
    if (!peer) return "";
    EVP_PKEY *key = X509_get0_pubkey(peer);
    const char *type = EVP_PKEY_is_a(key, "RSA") ? "RSA" : EVP_PKEY_is_a(key, "EC") ? "EC" : "other";
    X509_free(peer);
    return type;
}

bool tlstest_client_resumed(tlstest_client *client) { return SSL_session_reused(client->ssl) == 1; }

void *tlstest_client_take_session(tlstest_client *client) { return SSL_get1_session(client->ssl); }

void tlstest_session_free(void *session) { SSL_SESSION_free((SSL_SESSION *)session); }

void tlstest_error(char *buffer, size_t capacity) {
    unsigned long code = ERR_get_error();
    if (code) ERR_error_string_n(code, buffer, capacity); else snprintf(buffer, capacity, "no error");
    ERR_clear_error();
}
