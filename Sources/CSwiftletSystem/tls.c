// TLS helpers for SwiftletTLS: OpenSSL callbacks that are macros or need C
// function pointers (BIO, SNI, ALPN, session tickets), and certificate
// loading with errors that name the file and what is wrong with it.
#define _GNU_SOURCE
#include "CSwiftletSystem.h"
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

// MARK: - BIO over our buffers

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_read(BIO *bio, char *out, int wanted) {
    swiftlet_tls_io *io = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    size_t available = io->input_length - io->input_used;
    if (available == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    size_t n = (size_t)wanted < available ? (size_t)wanted : available;
    memcpy(out, io->input + io->input_used, n);
    io->input_used += n;
    return (int)n;
}

static int bio_write(BIO *bio, const char *in, int length) {
    swiftlet_tls_io *io = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (length > 0) io->write(io->write_context, in, (size_t)length);
    return length;
}

static long bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)bio; (void)number; (void)pointer;
    switch (command) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PUSH: case BIO_CTRL_POP: return 0;
    default: return 0;
    }
}

static int bio_create(BIO *bio) {
    BIO_set_init(bio, 1);
    return 1;
}

static void make_bio_method(void) {
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "swiftlet");
    BIO_meth_set_read(bio_method, bio_read);
    BIO_meth_set_write(bio_method, bio_write);
    BIO_meth_set_ctrl(bio_method, bio_ctrl);
    BIO_meth_set_create(bio_method, bio_create);
}

// MARK: - Context set

#define MAX_CONTEXTS 64
#define MAX_NAMES 64
#define TICKET_KEYS 3

typedef struct {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    time_t created;
} ticket_key;

struct swiftlet_tls_contexts {
    atomic_int references;
    SSL_CTX *contexts[MAX_CONTEXTS];
    char *names[MAX_CONTEXTS][MAX_NAMES];
    int name_count[MAX_CONTEXTS];
    int count;
    char *ciphers;
    unsigned rotation_seconds;
    pthread_mutex_t ticket_lock;
    ticket_key keys[TICKET_KEYS];   // keys[0] encrypts; all decrypt
    int key_count;
    long clock_offset;              // seconds added to time(NULL): tests move the clock (under ticket_lock)
};

static int set_index = -1;  // written once under set_index_once
static pthread_once_t set_index_once = PTHREAD_ONCE_INIT;
static void make_set_index(void) { set_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL); }

/// "<what> <path>", then ": <OpenSSL's reason>" when OpenSSL gave one.
static void fail(char *error, size_t length, const char *what, const char *path) {
    char detail[256] = "";
    unsigned long code = ERR_peek_last_error();
    if (code) ERR_error_string_n(code, detail, sizeof(detail));
    ERR_clear_error();
    snprintf(error, length, "%s %s%s%s", what, path, detail[0] ? ": " : "", detail);
}

bool swiftlet_tls_error(char *buffer, size_t length) {
    unsigned long code = ERR_get_error();
    bool plain_http = code && ERR_GET_LIB(code) == ERR_LIB_SSL &&
                      (ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST || ERR_GET_REASON(code) == SSL_R_HTTPS_PROXY_REQUEST);
    if (code) ERR_error_string_n(code, buffer, length); else snprintf(buffer, length, "unknown TLS error");
    ERR_clear_error();
    return plain_http;
}

static int no_passphrase(char *buffer, int size, int writing, void *argument) {
    (void)buffer; (void)size; (void)writing; (void)argument;
    return -1;
}

static SSL_CTX *new_context(const char *ciphers) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return NULL;
    // RFC 9113 §9.2: TLS 1.2 or later, no compression, no renegotiation.
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);  // never prompt on the terminal
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

swiftlet_tls_contexts *swiftlet_tls_contexts_new(const char *ciphers, char *error, size_t error_length) {
    pthread_once(&bio_once, make_bio_method);
    swiftlet_tls_contexts *set = calloc(1, sizeof(*set));
    if (!set) return NULL;
    atomic_init(&set->references, 1);
    // Ephemeral key exchange with AEAD ciphers only: nothing RFC 9113
    // Appendix A prohibits can be negotiated.
    set->ciphers = strdup(ciphers ? ciphers :
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
    pthread_mutex_init(&set->ticket_lock, NULL);
    SSL_CTX *probe = new_context(set->ciphers);
    if (!probe) {
        fail(error, error_length, "invalid TLS cipher list", set->ciphers);
        swiftlet_tls_contexts_release(set);
        return NULL;
    }
    SSL_CTX_free(probe);
    return set;
}

static int names_of(X509 *certificate, char **names, int capacity) {
    int count = 0;
    GENERAL_NAMES *alternatives = X509_get_ext_d2i(certificate, NID_subject_alt_name, NULL, NULL);
    if (alternatives) {
        for (int i = 0; i < sk_GENERAL_NAME_num(alternatives) && count < capacity; i++) {
            GENERAL_NAME *name = sk_GENERAL_NAME_value(alternatives, i);
            if (name->type == GEN_DNS) {
                unsigned char *text = NULL;
                int length = ASN1_STRING_to_UTF8(&text, name->d.dNSName);
                if (length > 0) names[count++] = strndup((char *)text, (size_t)length);
                OPENSSL_free(text);
            }
        }
        GENERAL_NAMES_free(alternatives);
    }
    if (count == 0) {
        char common[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, common, sizeof(common)) > 0)
            names[count++] = strdup(common);
    }
    return count;
}

static int same_names(char **a, int a_count, char **b, int b_count) {
    if (a_count != b_count) return 0;
    for (int i = 0; i < a_count; i++) if (strcasecmp(a[i], b[i]) != 0) return 0;
    return 1;
}

int swiftlet_tls_contexts_add(swiftlet_tls_contexts *set, const char *certificate_path, const char *key_path,
                              char *error, size_t error_length) {
    // Read the certificate first, for its names and validity.
    FILE *file = fopen(certificate_path, "r");
    if (!file) {
        snprintf(error, error_length, "cannot read certificate file %s: %s", certificate_path, strerror(errno));
        return -1;
    }
    X509 *certificate = PEM_read_X509(file, NULL, NULL, NULL);
    fclose(file);
    if (!certificate) {
        fail(error, error_length, "no PEM certificate in", certificate_path);
        return -1;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(certificate)) <= 0) {
        BIO *text = BIO_new(BIO_s_mem());
        ASN1_TIME_print(text, X509_get0_notAfter(certificate));
        char date[64] = "";
        BIO_read(text, date, sizeof(date) - 1);
        BIO_free(text);
        snprintf(error, error_length, "certificate %s expired on %s", certificate_path, date);
        X509_free(certificate);
        return -1;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(certificate)) >= 0) {
        snprintf(error, error_length, "certificate %s is not valid yet", certificate_path);
        X509_free(certificate);
        return -1;
    }
    FILE *key_file = fopen(key_path, "r");
    if (!key_file) {
        snprintf(error, error_length, "cannot read key file %s: %s", key_path, strerror(errno));
        X509_free(certificate);
        return -1;
    }
    // A callback that supplies no passphrase: an encrypted key fails here
    // instead of prompting on the terminal.
    EVP_PKEY *key = PEM_read_PrivateKey(key_file, NULL, no_passphrase, NULL);
    fclose(key_file);
    if (!key) {
        fail(error, error_length, "no usable PEM private key (unencrypted) in", key_path);
        X509_free(certificate);
        return -1;
    }
    int matches = X509_check_private_key(certificate, key);
    EVP_PKEY_free(key);
    if (matches != 1) {
        ERR_clear_error();
        snprintf(error, error_length, "private key %s does not match certificate %s", key_path, certificate_path);
        X509_free(certificate);
        return -1;
    }
    char *names[MAX_NAMES];
    int name_count = names_of(certificate, names, MAX_NAMES);
    X509_free(certificate);
    // Same names as an earlier pair: the same context (RSA + ECDSA for one host).
    int index = -1;
    for (int i = 0; i < set->count; i++) {
        if (same_names(set->names[i], set->name_count[i], names, name_count)) { index = i; break; }
    }
    if (index < 0) {
        if (set->count == MAX_CONTEXTS) {
            snprintf(error, error_length, "too many certificates (at most %d hosts)", MAX_CONTEXTS);
            for (int i = 0; i < name_count; i++) free(names[i]);
            return -1;
        }
        index = set->count++;
        set->contexts[index] = new_context(set->ciphers);
        memcpy(set->names[index], names, sizeof(char *) * (size_t)name_count);
        set->name_count[index] = name_count;
    } else {
        for (int i = 0; i < name_count; i++) free(names[i]);
    }
    SSL_CTX *ctx = set->contexts[index];
    if (SSL_CTX_use_certificate_chain_file(ctx, certificate_path) != 1) {
        fail(error, error_length, "cannot use certificate chain", certificate_path);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        fail(error, error_length, "cannot use private key", key_path);
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(error, error_length, "private key %s does not match certificate %s", key_path, certificate_path);
        return -1;
    }
    return 0;
}

// MARK: - SNI

static int matches(const char *pattern, const char *host) {
    if (strcasecmp(pattern, host) == 0) return 1;
    // "*.example.com" matches one label.
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(host, '.');
        return dot && strcasecmp(pattern + 1, dot) == 0;
    }
    return 0;
}

static int servername(SSL *ssl, int *alert, void *argument) {
    (void)alert;
    swiftlet_tls_contexts *set = argument;
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!host) return SSL_TLSEXT_ERR_OK;
    for (int i = 0; i < set->count; i++) {
        for (int n = 0; n < set->name_count[i]; n++) {
            if (matches(set->names[i][n], host)) {
                if (SSL_get_SSL_CTX(ssl) != set->contexts[i]) SSL_set_SSL_CTX(ssl, set->contexts[i]);
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_OK;  // unknown name: the default certificate
}

// MARK: - ALPN

static bool prohibited_for_http2(SSL *ssl, const SSL_CIPHER *cipher) {
    if (SSL_version(ssl) >= TLS1_3_VERSION) return false;  // every TLS 1.3 suite is AEAD + ephemeral
    if (!cipher) return true;
    int kx = SSL_CIPHER_get_kx_nid(cipher);
    bool ephemeral = kx == NID_kx_ecdhe || kx == NID_kx_dhe;
    return !(ephemeral && SSL_CIPHER_is_aead(cipher));
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *out_length,
                       const unsigned char *in, unsigned int in_length, void *argument) {
    (void)argument;
    // Our preference: h2, then http/1.1. With a TLS 1.2 suite RFC 9113
    // section 9.2.2 prohibits (only possible with a custom cipher list),
    // http/1.1 comes first; a client offering only h2 still gets h2 and then
    // a GOAWAY with INADEQUATE_SECURITY.
    static const unsigned char preference[] = "\x02h2\x08http/1.1";
    static const unsigned char degraded[] = "\x08http/1.1\x02h2";
    bool prohibited = prohibited_for_http2(ssl, SSL_get_pending_cipher(ssl));
    const unsigned char *ours = prohibited ? degraded : preference;
    unsigned char *selected;
    if (SSL_select_next_proto(&selected, out_length, ours, sizeof(preference) - 1, in, in_length)
            != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;  // no common protocol: HTTP/1.1 without ALPN
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

// MARK: - Session tickets with rotating keys

static void new_key(ticket_key *key, time_t now) {
    RAND_bytes(key->name, sizeof(key->name));
    RAND_bytes(key->aes, sizeof(key->aes));
    RAND_bytes(key->hmac, sizeof(key->hmac));
    key->created = now;
}

static int ticket_callback(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cipher,
                           EVP_MAC_CTX *hmac, int encrypt) {
    swiftlet_tls_contexts *set = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), set_index);
    if (!set) return -1;
    pthread_mutex_lock(&set->ticket_lock);
    // Rotation: a new encryption key once the current one is older than the
    // rotation interval; the older ones still decrypt until they fall off.
    time_t now = time(NULL) + set->clock_offset;
    if (set->key_count == 0 || now - set->keys[0].created >= (time_t)set->rotation_seconds) {
        memmove(&set->keys[1], &set->keys[0], sizeof(ticket_key) * (TICKET_KEYS - 1));
        new_key(&set->keys[0], now);
        if (set->key_count < TICKET_KEYS) set->key_count++;
    }
    ticket_key key;
    int found = 0, fresh = 1;
    if (encrypt) {
        key = set->keys[0];
        found = 1;
    } else {
        for (int i = 0; i < set->key_count; i++) {
            if (memcmp(name, set->keys[i].name, 16) == 0) { key = set->keys[i]; found = 1; fresh = i == 0; break; }
        }
    }
    pthread_mutex_unlock(&set->ticket_lock);
    if (!found) return 0;  // unknown key: full handshake
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac, sizeof(key.hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "sha256", 0),
        OSSL_PARAM_construct_end()
    };
    if (encrypt) {
        memcpy(name, key.name, 16);
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
        if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key.aes, iv) != 1) return -1;
        if (EVP_MAC_CTX_set_params(hmac, params) != 1) return -1;
        return 1;
    }
    if (EVP_MAC_CTX_set_params(hmac, params) != 1) return -1;
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key.aes, iv) != 1) return -1;
    return fresh ? 1 : 2;  // 2: valid but renew the ticket with the current key
}

int swiftlet_tls_contexts_finish(swiftlet_tls_contexts *set, unsigned ticket_rotation_seconds, char *error, size_t error_length) {
    if (set->count == 0) {
        snprintf(error, error_length, "no certificate given");
        return -1;
    }
    pthread_once(&set_index_once, make_set_index);
    set->rotation_seconds = ticket_rotation_seconds ? ticket_rotation_seconds : 3600;
    for (int i = 0; i < set->count; i++) {
        SSL_CTX *ctx = set->contexts[i];
        SSL_CTX_set_ex_data(ctx, set_index, set);
        SSL_CTX_set_tlsext_servername_callback(ctx, servername);
        SSL_CTX_set_tlsext_servername_arg(ctx, set);
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
        // A session cache for TLS 1.2 session ids; tickets for both versions.
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, 20480);
        static const unsigned char id_context[] = "swiftlet";
        SSL_CTX_set_session_id_context(ctx, id_context, sizeof(id_context) - 1);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_callback);
        SSL_CTX_set_num_tickets(ctx, 2);
    }
    return 0;
}

void swiftlet_tls_contexts_advance_ticket_clock(swiftlet_tls_contexts *set, long seconds) {
    pthread_mutex_lock(&set->ticket_lock);
    set->clock_offset += seconds;
    pthread_mutex_unlock(&set->ticket_lock);
}

void swiftlet_tls_contexts_inherit_ticket_keys(swiftlet_tls_contexts *set, swiftlet_tls_contexts *from) {
    pthread_mutex_lock(&from->ticket_lock);
    ticket_key keys[TICKET_KEYS];
    memcpy(keys, from->keys, sizeof(keys));
    int count = from->key_count;
    long offset = from->clock_offset;
    pthread_mutex_unlock(&from->ticket_lock);
    pthread_mutex_lock(&set->ticket_lock);
    memcpy(set->keys, keys, sizeof(keys));
    set->key_count = count;
    set->clock_offset = offset;
    pthread_mutex_unlock(&set->ticket_lock);
}

void swiftlet_tls_contexts_retain(swiftlet_tls_contexts *set) {
    atomic_fetch_add(&set->references, 1);
}

void swiftlet_tls_contexts_release(swiftlet_tls_contexts *set) {
    if (atomic_fetch_sub(&set->references, 1) != 1) return;
    for (int i = 0; i < set->count; i++) {
        SSL_CTX_free(set->contexts[i]);
        for (int n = 0; n < set->name_count[i]; n++) free(set->names[i][n]);
    }
    pthread_mutex_destroy(&set->ticket_lock);
    OPENSSL_cleanse(set->keys, sizeof(set->keys));
    free(set->ciphers);
    free(set);
}

void swiftlet_tls_contexts_describe(swiftlet_tls_contexts *set, char *buffer, size_t length) {
    size_t used = 0;
    buffer[0] = 0;
    for (int i = 0; i < set->count && used < length; i++) {
        for (int n = 0; n < set->name_count[i] && used < length; n++) {
            int written = snprintf(buffer + used, length - used, "%s%s", used ? ", " : "", set->names[i][n]);
            if (written < 0) break;
            used += (size_t)written;
        }
    }
}

// MARK: - Sessions

SSL *swiftlet_tls_session_new(swiftlet_tls_contexts *set, swiftlet_tls_io *io) {
    SSL *ssl = SSL_new(set->contexts[0]);
    if (!ssl) return NULL;
    BIO *bio = BIO_new(bio_method);
    if (!bio) {
        SSL_free(ssl);
        return NULL;
    }
    BIO_set_data(bio, io);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_accept_state(ssl);
    return ssl;
}

void swiftlet_tls_alpn(SSL *ssl, char *buffer, size_t length) {
    const unsigned char *protocol = NULL;
    unsigned int protocol_length = 0;
    SSL_get0_alpn_selected(ssl, &protocol, &protocol_length);
    if (!protocol || protocol_length >= length) {
        buffer[0] = 0;
        return;
    }
    memcpy(buffer, protocol, protocol_length);
    buffer[protocol_length] = 0;
}

bool swiftlet_tls_cipher_prohibited_for_http2(SSL *ssl) {
    return prohibited_for_http2(ssl, SSL_get_current_cipher(ssl));
}

bool swiftlet_tls_session_reused(SSL *ssl) {
    return SSL_session_reused(ssl) == 1;
}
