// Catalog and product pages: add to cart, and keep price and stock live
// from /ws/products. User text only through textContent.
(() => {
  const errorBox = document.getElementById('catalog-error');
  const cartLink = document.getElementById('cart-link');

  async function showCartLink() {
    const id = document.body.dataset.cartId || localStorage.getItem('cartId');
    if (id && cartLink) { cartLink.href = `/carts/${id}`; cartLink.hidden = false; }
  }

  document.querySelectorAll('.add-to-cart').forEach((button) => {
    button.addEventListener('click', async () => {
      errorBox.textContent = '';
      button.disabled = true;
      try {
        const cart = await window.CartClient.add(button.dataset.product);
        const line = cart.products.find((l) => l.product._id === button.dataset.product);
        button.textContent = `In cart (${line ? line.quantity : 0})`;
        showCartLink();
      } catch (error) {
        errorBox.textContent = error.message;
      } finally {
        button.disabled = false;
      }
    });
  });

  function applyProduct(product) {
    document.querySelectorAll(`[data-id="${product._id}"]`).forEach((card) => {
      const price = card.querySelector('[data-price]');
      const stock = card.querySelector('[data-stock]');
      if (price) price.textContent = `$${Number(product.price).toFixed(2)}`;
      if (stock) stock.textContent = product.stock > 0 ? `${product.stock} in stock` : 'out of stock';
      const button = card.querySelector('.add-to-cart');
      if (button) button.disabled = product.stock === 0;
    });
  }

  // A reconnect resumes from the last offset seen (the changes missed are
  // replayed); if they are no longer kept, a fresh snapshot refreshes
  // prices and stock.
  let lastOffset = null;
  window.LiveSocket(() => (lastOffset ? `/ws/products?since=${encodeURIComponent(lastOffset)}` : '/ws/products'), {
    statusElement: document.getElementById('connection'),
    onEvent(event, data, offset) {
      if (offset && event !== 'cart:updated') lastOffset = offset;
      if (event === 'products') data.forEach(applyProduct);
      if (event === 'product:updated') applyProduct(data);
      if (event === 'product:deleted') {
        document.querySelectorAll(`[data-id="${data._id}"] .add-to-cart`).forEach((b) => { b.disabled = true; b.textContent = 'No longer available'; });
      }
    },
  });

  showCartLink();
})();
