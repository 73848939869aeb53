package stripefake

import (
	"net/http"
	"net/url"
	"strings"
)

func (f *Fake) createCustomer(form url.Values) response {
	c := &customer{
		id: newID("cus"), email: form.Get("email"), name: form.Get("name"),
		metadata: metadata(form), created: f.now().Unix(),
	}
	f.customers[c.id] = c
	f.customerList = append(f.customerList, c)
	return success(c.json())
}

// retrievePaymentMethod answers a stored method or, for a test method name
// such as pm_card_visa, the card it stands for.
func (f *Fake) retrievePaymentMethod(id string) response {
	if pm, ok := f.methods[id]; ok {
		return success(pm.json())
	}
	if c, ok := testCards[id]; ok {
		return success((&paymentMethod{id: id, card: c, created: f.now().Unix()}).json())
	}
	return noSuchPaymentMethod(http.StatusNotFound, id, "")
}

// attachPaymentMethod attaches a method to a customer. Like Stripe in test
// mode, a test method name makes a new PaymentMethod each time, so the
// answer's ID, not the name, is what is charged later.
func (f *Fake) attachPaymentMethod(id string, form url.Values) response {
	customerID := form.Get("customer")
	if customerID == "" {
		return invalidRequest(400, "parameter_missing", "customer", "Missing required param: customer.")
	}
	if _, ok := f.customers[customerID]; !ok {
		return invalidRequest(400, "resource_missing", "customer", "No such customer: '"+customerID+"'")
	}
	pm, err := f.paymentMethod(id, "payment_method")
	if err != nil {
		return *err
	}
	if pm.customer != "" && pm.customer != customerID {
		return invalidRequest(400, "", "",
			"The payment method you provided has already been attached to a customer.")
	}
	pm.customer = customerID
	return success(pm.json())
}

// paymentMethod finds a stored method, or clones a test method into a new
// one; err is Stripe's answer for an unknown ID.
func (f *Fake) paymentMethod(id, param string) (*paymentMethod, *response) {
	if pm, ok := f.methods[id]; ok {
		return pm, nil
	}
	if c, ok := testCards[id]; ok {
		pm := &paymentMethod{id: newID("pm"), card: c, created: f.now().Unix()}
		f.methods[pm.id] = pm
		return pm, nil
	}
	res := noSuchPaymentMethod(http.StatusBadRequest, id, param)
	return nil, &res
}

func noSuchPaymentMethod(status int, id, param string) response {
	return invalidRequest(status, "resource_missing", param, "No such PaymentMethod: '"+id+"'")
}

// metadata collects the metadata[key]=value form parameters.
func metadata(form url.Values) map[string]string {
	m := map[string]string{}
	for k, v := range form {
		if key, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(key, "]") {
			m[strings.TrimSuffix(key, "]")] = v[0]
		}
	}
	return m
}
