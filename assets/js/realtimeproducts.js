// Live product list over /ws/products. Every user-provided value is put in
// the page with textContent, never as HTML. Events are applied by _id, so a
// repeated event (e.g. replayed after the snapshot) changes nothing.
(() => {
  const list = document.getElementById('product-list');
  const count = document.getElementById('count');
  const status = document.getElementById('connection');
  const errorBox = document.getElementById('form-error');
  const products = new Map();

  function render() {
    const sorted = [...products.values()].sort((a, b) => (a._id < b._id ? 1 : -1));
    list.replaceChildren(...sorted.map(item));
    count.textContent = `(${products.size})`;
  }

  function item(product) {
    const li = document.createElement('li');
    li.dataset.id = product._id;
    const title = document.createElement('span');
    title.className = 'title';
    title.textContent = product.title;
    const details = document.createElement('span');
    details.textContent = `$${product.price} · ${product.category} · stock ${product.stock}`;
    const id = document.createElement('code');
    id.textContent = product._id;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Delete';
    remove.addEventListener('click', () => send('product:delete', { _id: product._id }));
    li.append(title, details, id, remove);
    return li;
  }

  function send(event, data) {
    if (!live.send(event, data)) {
      errorBox.textContent = 'Not connected yet: try again when the badge says live.';
      return;
    }
    errorBox.textContent = '';
  }

  // A reconnect resumes from the last offset seen: the server replays the
  // changes missed (`recovered`), or, if they are no longer kept, sends a
  // fresh `products` snapshot, so the list is whole again after any outage.
  let lastOffset = null;
  const live = window.LiveSocket(() => (lastOffset ? `/ws/products?since=${encodeURIComponent(lastOffset)}` : '/ws/products'), {
    statusElement: status,
    onEvent(event, data, offset) {
      if (offset) lastOffset = offset;
      if (event === 'products') {
        products.clear();
        data.forEach((p) => products.set(p._id, p));
      } else if (event === 'product:created' || event === 'product:updated') {
        products.set(data._id, data);
      } else if (event === 'product:deleted') {
        products.delete(data._id);
      } else if (event === 'error') {
        errorBox.textContent = data.error;
        return;
      } else {
        return;
      }
      render();
    },
  });

  document.getElementById('create-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    send('product:create', {
      title: form.get('title'),
      description: form.get('description'),
      code: form.get('code'),
      price: Number(form.get('price')),
      stock: Number(form.get('stock')),
      category: form.get('category'),
    });
    e.target.reset();
  });

  document.getElementById('delete-form').addEventListener('submit', (e) => {
    e.preventDefault();
    send('product:delete', { _id: new FormData(e.target).get('_id').trim() });
    e.target.reset();
  });

})();
