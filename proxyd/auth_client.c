/* auth_client.c: libcurl's multi interface driven by a worker's libuv loop, for the forward-auth checks. */
#include <stdlib.h>
#include <string.h>
#include "auth.h"

/* One socket libcurl asked us to watch. */
typedef struct curl_poll {
    uv_poll_t poll;
    curl_socket_t fd;
    pd_auth_client_t *client;
} curl_poll_t;

/* Owned by one worker, used on its thread only. Connections to the auth service
 * stay in the multi handle's cache and are reused. */
struct pd_auth_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    h2o_linklist_t transfers; /* transfer_owner_t, the ones running */
    int closing;
};

/* A running transfer's completion callback, kept in CURLOPT_PRIVATE. */
typedef struct transfer_owner {
    h2o_linklist_t link;
    CURL *easy;
    void (*on_done)(void *data, CURL *easy, CURLcode result);
    void *data;
} transfer_owner_t;

static void drain_done(pd_auth_client_t *client)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(client->multi, &left)) != NULL) {
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        transfer_owner_t *owner;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&owner);
        curl_multi_remove_handle(client->multi, easy);
        h2o_linklist_unlink(&owner->link);
        owner->on_done(owner->data, easy, result); /* cleans up `easy` */
        free(owner);
    }
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    curl_poll_t *p = (curl_poll_t *)handle;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(p->client->multi, p->fd, flags, &running);
    drain_done(p->client);
}

static void on_poll_close(uv_handle_t *handle)
{
    free(handle);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching a socket. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    pd_auth_client_t *client = userp;
    curl_poll_t *p = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (p != NULL) {
            uv_poll_stop(&p->poll);
            uv_close((uv_handle_t *)&p->poll, on_poll_close);
            curl_multi_assign(client->multi, fd, NULL);
        }
        return 0;
    }
    if (p == NULL) {
        if ((p = calloc(1, sizeof(*p))) == NULL)
            fatal("%s", __func__);
        p->fd = fd;
        p->client = client;
        uv_poll_init_socket(client->loop, &p->poll, fd);
        curl_multi_assign(client->multi, fd, p);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&p->poll, events, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *timer)
{
    pd_auth_client_t *client = timer->data;
    int running;

    curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_done(client);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms the timer; the work happens in on_timer. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    pd_auth_client_t *client = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&client->timer);
    else if (!client->closing)
        uv_timer_start(&client->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

pd_auth_client_t *auth_client_new(uv_loop_t *loop)
{
    pd_auth_client_t *client = calloc(1, sizeof(*client));

    if (client == NULL || (client->multi = curl_multi_init()) == NULL)
        fatal("%s", __func__);
    client->loop = loop;
    h2o_linklist_init_anchor(&client->transfers);
    uv_timer_init(loop, &client->timer);
    client->timer.data = client;
    curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
    curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
    return client;
}

/* Starts `easy`; on_done(data, easy, result) runs on this loop when it ends and must
 * clean `easy` up. */
void auth_client_start(pd_auth_client_t *client, CURL *easy, void (*on_done)(void *, CURL *, CURLcode), void *data)
{
    transfer_owner_t *owner = calloc(1, sizeof(*owner));

    if (owner == NULL)
        fatal("%s", __func__);
    owner->easy = easy;
    owner->on_done = on_done;
    owner->data = data;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, owner);
    if (curl_multi_add_handle(client->multi, easy) != CURLM_OK) {
        /* the waiting requests still get their answer: a failed check */
        on_done(data, easy, CURLE_FAILED_INIT);
        free(owner);
        return;
    }
    h2o_linklist_insert(&client->transfers, &owner->link);
}

/* Abandons the transfers still running (their callbacks never run) and closes the
 * handles; the memory goes in the loop's close callbacks and auth_client_free(). */
void auth_client_dispose(pd_auth_client_t *client)
{
    client->closing = 1;
    while (!h2o_linklist_is_empty(&client->transfers)) {
        transfer_owner_t *owner = H2O_STRUCT_FROM_MEMBER(transfer_owner_t, link, client->transfers.next);
        h2o_linklist_unlink(&owner->link);
        curl_multi_remove_handle(client->multi, owner->easy);
        owner->on_done(owner->data, owner->easy, CURLE_ABORTED_BY_CALLBACK);
        free(owner);
    }
    curl_multi_cleanup(client->multi); /* removes its sockets through on_curl_socket */
    client->multi = NULL;
    uv_close((uv_handle_t *)&client->timer, NULL);
}

void auth_client_free(pd_auth_client_t *client)
{
    free(client);
}
