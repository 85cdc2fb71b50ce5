// The shopper's cart: its id is remembered in localStorage and a new cart
// is created when there is none (or the remembered one is gone).
window.CartClient = (() => {
  const KEY = 'cartId';

  async function json(response) {
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(body.error || response.statusText), { status: response.status });
    return body.payload;
  }

  async function currentCartId() {
    const known = document.body.dataset.cartId || localStorage.getItem(KEY);
    if (known) return known;
    const cart = await json(await fetch('/api/carts', { method: 'POST' }));
    localStorage.setItem(KEY, cart._id);
    return cart._id;
  }

  async function add(productId, quantity = 1) {
    let cartId = await currentCartId();
    const post = (id) => fetch(`/api/carts/${id}/product/${productId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ quantity }),
    });
    let response = await post(cartId);
    if (response.status === 404 && !document.body.dataset.cartId) {
      const body = await response.clone().json().catch(() => ({}));
      if ((body.error || '').startsWith('cart ')) {
        localStorage.removeItem(KEY);
        cartId = await currentCartId();
        response = await post(cartId);
      }
    }
    return json(response);
  }

  return { currentCartId, add, json };
})();
