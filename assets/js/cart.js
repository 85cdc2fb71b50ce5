// The cart page: change quantities, remove lines, empty the cart over the
// REST API; re-render on every `cart:updated` from /ws/products, whatever
// tab or API client made the change. User text only through textContent.
(() => {
  const table = document.getElementById('cart');
  const cartId = table.dataset.id;
  const body = document.getElementById('cart-lines');
  const errorBox = document.getElementById('cart-error');
  const status = document.getElementById('connection');
  const money = (n) => `$${Number(n).toFixed(2)}`;

  async function call(method, path, payload) {
    errorBox.textContent = '';
    const response = await fetch(path, {
      method,
      headers: payload ? { 'content-type': 'application/json' } : {},
      body: payload ? JSON.stringify(payload) : undefined,
    });
    const result = await response.json().catch(() => ({}));
    if (!response.ok) { errorBox.textContent = result.error || response.statusText; return null; }
    render(result.payload);
    return result.payload;
  }

  function cell(content) {
    const td = document.createElement('td');
    if (content instanceof Node) td.append(content); else td.textContent = content;
    return td;
  }

  function render(cart) {
    const rows = cart.products.map(({ product, quantity }) => {
      const tr = document.createElement('tr');
      tr.dataset.product = product._id;
      const link = document.createElement('a');
      link.href = `/products/${product._id}`;
      link.textContent = product.title;
      const input = document.createElement('input');
      Object.assign(input, { type: 'number', className: 'quantity', min: 1, max: product.stock, value: quantity });
      const remove = document.createElement('button');
      Object.assign(remove, { type: 'button', className: 'remove', textContent: 'Remove' });
      tr.append(cell(link), cell(money(product.price)), cell(input), cell(money(product.price * quantity)), cell(remove));
      return tr;
    });
    body.replaceChildren(...rows);
    const total = cart.products.reduce((sum, l) => sum + l.product.price * l.quantity, 0);
    document.getElementById('cart-total').textContent = money(total);
    document.getElementById('cart-empty').hidden = cart.products.length > 0;
  }

  body.addEventListener('change', (e) => {
    if (!e.target.classList.contains('quantity')) return;
    const productId = e.target.closest('tr').dataset.product;
    call('PUT', `/api/carts/${cartId}/product/${productId}`, { quantity: Number(e.target.value) });
  });
  body.addEventListener('click', (e) => {
    if (!e.target.classList.contains('remove')) return;
    const productId = e.target.closest('tr').dataset.product;
    call('DELETE', `/api/carts/${cartId}/product/${productId}`);
  });
  document.getElementById('clear-cart').addEventListener('click', () => call('DELETE', `/api/carts/${cartId}`));

  const refresh = () => fetch(`/api/carts/${cartId}`)
    .then((r) => r.json())
    .then((r) => r.payload && render(r.payload))
    .catch(() => {});

  // On every (re)connect: watch the cart again from the last change seen
  // (`since`); the server replays what was missed (`recovered`). The cart
  // is re-read only when that cannot be done (first connect, or changes no
  // longer kept), so changes made while the page was offline show up.
  let cartOffset = null;
  const live = window.LiveSocket('/ws/products', {
    statusElement: status,
    onOpen() {
      live.send('cart:watch', cartOffset ? { _id: cartId, since: cartOffset } : { _id: cartId });
      if (!cartOffset) refresh();
    },
    onEvent(event, data, offset) {
      if (event === 'cart:updated' && data._id === cartId) {
        cartOffset = offset || cartOffset;
        render(data);
      }
      if (event === 'recovered' && data.stream === `cart:${cartId}` && !data.recovered) refresh();
      if ((event === 'product:updated' || event === 'product:deleted')
          && body.querySelector(`[data-product="${data._id}"]`)) {
        refresh();
      }
      if (event === 'error') errorBox.textContent = data.error;
    },
  });
})();
