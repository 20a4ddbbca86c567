"""Online payment gateways (Stripe, Razorpay) behind one interface."""
