// The course's front-end, unchanged: plain socket.io-client calls.
const socket = io(); // default namespace: the seeds' update_products event
const feed = io("/products"); // the product feed: snapshot, then changes

const status = document.getElementById("status");
const list = document.getElementById("products");
const updates = document.getElementById("updates");

socket.on("connect", () => { status.textContent = "connected"; });
socket.on("disconnect", () => { status.textContent = "reconnecting…"; });

function render(product) {
  let item = list.querySelector(`li[data-id="${product._id}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.id = product._id;
    list.appendChild(item);
  }
  item.textContent = `${product.title} — $${product.price} (${product.stock} in stock)`;
}

feed.on("products", (products) => {
  list.replaceChildren();
  products.forEach(render);
});
feed.on("product:created", render);
feed.on("product:updated", render);
feed.on("product:deleted", ({ _id }) => list.querySelector(`li[data-id="${_id}"]`)?.remove());

socket.on("update_products", ({ id, msg }) => {
  const item = document.createElement("li");
  item.textContent = `${msg}: ${id}`;
  updates.prepend(item);
});
