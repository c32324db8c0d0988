// dashboard/editor.js: the form that adds, changes and deletes a service through the admin API, showing the API's
// validation messages. A change applies only to the registry version the form was filled from (If-Match), and adding
// a service never replaces another (If-None-Match: *).

import { api, servicePath } from './api.js';

const $ = (id) => document.getElementById(id);
const BOOLEAN_OPTIONS = ['auth', 'public', 'preserve_host', 'allow_encoded_slash', 'allow_encoded_nul'];
const TEXT_OPTIONS = ['url', 'timeout', 'websocket_timeout', 'max_request_body'];
const BOOLEAN_DEFAULTS = { auth: true };
const FIELDS = ['name', 'hosts', ...TEXT_OPTIONS, ...BOOLEAN_OPTIONS];
const NAME_RULE = "use 1 to 63 of a-z, 0-9, '_' and '-', starting with a letter or digit";

// { name, etag, entry } while an existing service is in the form; entry is the API's view of it, so that
// options the form does not show are sent back unchanged.
let editing = null;
let armTimer = null;

const inputId = (option) => 'edit-' + option.replace(/_/g, '-');

function clearMessages() {
  $('edit-error').textContent = '';
  $('edit-message').textContent = '';
  document.querySelectorAll('#edit-form input').forEach((i) => {
    i.classList.remove('invalid');
    i.removeAttribute('aria-invalid');
  });
}

// What 412 means depends on the form: a new service's name is taken, or an edit's registry version is gone.
function hint412() {
  return editing ? ': the registry changed since this form was filled; press Edit to load the service again'
    : ": to change it, press Edit on its row";
}

function showError(res) {
  let msg = res.json && res.json.error ? res.json.error : 'HTTP ' + res.status;
  if (res.status === 412) msg += hint412();
  $('edit-error').textContent = msg;
  const field = res.json && res.json.field;
  if (FIELDS.includes(field)) {
    const input = $(inputId(field));
    input.classList.add('invalid');
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

function unreachable(e) {
  $('edit-error').textContent = 'the admin listener cannot be reached (' + e.message + '): nothing was changed';
}

function disarmDelete() {
  clearTimeout(armTimer);
  $('edit-delete').classList.remove('armed');
  $('edit-delete').textContent = 'Delete';
}

function editingNow(name, etag, entry) {
  editing = { name, etag, entry };
  $('edit-title').textContent = 'Edit ' + name;
  $('edit-name').value = name;
  $('edit-name').readOnly = true;
  $('edit-delete').hidden = false;
  disarmDelete();
}

function newService() {
  editing = null;
  clearMessages();
  $('edit-form').reset();
  $('edit-title').textContent = 'Add a service';
  $('edit-name').readOnly = false;
  $('edit-delete').hidden = true;
  disarmDelete();
}

function fillForm(entry) {
  TEXT_OPTIONS.forEach((o) => { $(inputId(o)).value = entry[o] || ''; });
  $('edit-hosts').value = (entry.hosts || []).join(', ');
  BOOLEAN_OPTIONS.forEach((o) => {
    $(inputId(o)).checked = o in entry ? entry[o] === true : !!BOOLEAN_DEFAULTS[o];
  });
}

// Loads `name` into the form, with the registry version it was read at.
export function edit(name) {
  clearMessages();
  api('GET', servicePath(name)).then((res) => {
    if (!res.ok) {
      showError(res);
      return;
    }
    fillForm(res.json);
    editingNow(name, res.etag, res.json);
  }).catch(unreachable);
}

// The PUT body: the service as it was, with what the form shows put over it. An
// empty text field is the settings' default; hosts are comma-separated.
function formBody() {
  const body = Object.assign({}, editing ? editing.entry : {});
  delete body.name;
  TEXT_OPTIONS.forEach((o) => {
    const v = $(inputId(o)).value.trim();
    if (v !== '') body[o] = v; else delete body[o];
  });
  const hosts = $('edit-hosts').value.split(',').map((h) => h.trim()).filter((h) => h !== '');
  if (hosts.length) body.hosts = hosts; else delete body.hosts;
  BOOLEAN_OPTIONS.forEach((o) => { body[o] = $(inputId(o)).checked; });
  return body;
}

function save(e) {
  e.preventDefault();
  clearMessages();
  const name = $('edit-name').value.trim();
  const path = servicePath(name);
  if (name === '' || path === null) {
    const why = name === '' ? 'required' : "invalid service name '" + name + "': " + NAME_RULE;
    showError({ status: 400, json: { error: 'name: ' + why, field: 'name' } });
    return;
  }
  // a new service never replaces one of the same name; an edit applies to the version it was read from
  const headers = editing ? { 'If-Match': editing.etag } : { 'If-None-Match': '*' };
  api('PUT', path, formBody(), headers).then((res) => {
    if (!res.ok) {
      showError(res);
      return;
    }
    $('edit-message').textContent = (res.status === 201 ? 'Created ' : 'Saved ') + name + ' (version ' +
      (res.etag || '').replace(/"/g, '') + ')';
    fillForm(res.json); // as the registry holds it: host names in lower case, durations and sizes in their own form
    editingNow(name, res.etag, res.json);
  }).catch(unreachable);
}

// Delete asks twice: the first click arms the button for five seconds.
function remove() {
  if (!editing) return;
  const b = $('edit-delete');
  if (!b.classList.contains('armed')) {
    b.classList.add('armed');
    b.textContent = 'Delete ' + editing.name + '?';
    armTimer = setTimeout(disarmDelete, 5000);
    return;
  }
  disarmDelete();
  clearMessages();
  const name = editing.name;
  api('DELETE', servicePath(name), undefined, { 'If-Match': editing.etag }).then((res) => {
    if (!res.ok) {
      showError(res);
      return;
    }
    newService();
    $('edit-message').textContent = 'Deleted ' + name;
  }).catch(unreachable);
}

export function initEditor() {
  $('edit-form').addEventListener('submit', save);
  $('edit-new').addEventListener('click', newService);
  $('edit-delete').addEventListener('click', remove);
}
