/* websocket.c: the Sec-WebSocket-Accept a server must answer a handshake with
 * (RFC 6455 §4.2.2): proof that the service really switched to WebSocket. A 101
 * without it may come from an endpoint that echoes a status, and a "tunnel" to
 * such an endpoint would carry HTTP requests the auth service never saw. */
#include <string.h>
#include <openssl/evp.h>
#include "proxyd.h"

#define WEBSOCKET_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* base64(SHA-1(key GUID)) into `accept` (29 bytes with the NUL); -1 for a key that
 * is not the base64 of 16 bytes. */
int websocket_accept(h2o_iovec_t key, char accept[PD_WEBSOCKET_ACCEPT_SIZE])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len;
    EVP_MD_CTX *ctx;
    int ok;

    while (key.len != 0 && (key.base[0] == ' ' || key.base[0] == '\t'))
        key.base++, key.len--;
    while (key.len != 0 && (key.base[key.len - 1] == ' ' || key.base[key.len - 1] == '\t'))
        key.len--;
    if (key.len != 24 || key.base[22] != '=' || key.base[23] != '=')
        return -1;
    if ((ctx = EVP_MD_CTX_new()) == NULL)
        fatalx("%s: EVP_MD_CTX_new failed", __func__);
    ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, key.base, key.len) &&
         EVP_DigestUpdate(ctx, WEBSOCKET_GUID, sizeof(WEBSOCKET_GUID) - 1) && EVP_DigestFinal_ex(ctx, digest, &digest_len);
    EVP_MD_CTX_free(ctx);
    if (!ok || digest_len != 20)
        fatalx("%s: SHA-1 failed", __func__);
    EVP_EncodeBlock((unsigned char *)accept, digest, 20); /* 28 characters and a NUL */
    return 0;
}
